# The connection ends before the body does.
>>>
GET /big HTTP/1.1
Host: h

<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this much
<<< fin
