# A whole response lost in a gap: the next response pairs with the request the server had
# received (from its ACK), not with the oldest waiting one.
>>>
GET /1 HTTP/1.1
Host: h

<<< gap 60
>>>
GET /2 HTTP/1.1
Host: h

<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
