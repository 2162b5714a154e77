# 204 and 304 never have bodies, whatever their headers say.
>>>
DELETE /items/9 HTTP/1.1
Host: h

GET /items HTTP/1.1
Host: h

<<< raw
HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n
