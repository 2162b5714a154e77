# HEAD responses carry Content-Length but no body; the next response follows at once.
>>>
HEAD /big HTTP/1.1
Host: h

GET /small HTTP/1.1
Host: h

<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
