# A gap that swallows chunk framing ends the body; the next response is found again.
>>>
GET /1 HTTP/1.1
Host: h

<<< raw
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel
<<< gap 40
<<< raw
xx\r\n0\r\n\r\n
>>>
GET /2 HTTP/1.1
Host: h

<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
