# CONNECT opens a tunnel; TLS inside is not parsed.
>>>
CONNECT secure.example:443 HTTP/1.1
Host: secure.example:443

<<< raw
HTTP/1.1 200 Connection established\r\n\r\n
>>> raw
\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03GET / HTTP/1.1\r\n\r\n
<<< raw
\x16\x03\x03\x00\x5a\x02\x00\x00\x56
