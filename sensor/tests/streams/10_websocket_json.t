# A WebSocket upgrade carrying JSON messages: recorded once, frames not parsed as HTTP.
>>>
GET /ws HTTP/1.1
Host: h
Upgrade: websocket
Connection: Upgrade
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Version: 13

<<< raw
HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n
>>> raw
\x81\x8d\x01\x02\x03\x04\x7a\x20\x70\x6c\x3e\x26\x72\x22\x2b\x3f\x20\x61\x7c
<<< raw
\x81\x0b{"pong":1}\n
