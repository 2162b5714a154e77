# Three pipelined requests, answered in order: chunked, Content-Length, 304.
>>>
GET /a HTTP/1.1
Host: h

GET /b HTTP/1.1
Host: h

GET /c HTTP/1.1
Host: h
If-None-Match: "x"

<<< raw
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n
<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc
<<< raw
HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 999\r\n\r\n
