# Expect: 100-continue answered twice before the final response.
>>>
POST /items HTTP/1.1
Host: h
Expect: 100-continue
Content-Length: 4

<<< raw
HTTP/1.1 100 Continue\r\n\r\n
<<< raw
HTTP/1.1 100 Continue\r\n\r\n
>>> raw
data
<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
