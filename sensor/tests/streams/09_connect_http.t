# Plain HTTP inside a CONNECT tunnel is parsed as HTTP; a stray LF first is ignored.
>>>
CONNECT abc:80 HTTP/1.1
Host: abc:80

>>> raw
\n
<<< raw
HTTP/1.1 200 OK\r\n\r\n
>>>
GET /inside HTTP/1.1
Host: abc

<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nin
