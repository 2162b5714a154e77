# HTTP tunneled through WebSocket frames (wstunnel) is parsed.
>>>
GET /v1/events HTTP/1.1
Host: tunnel:8888
Upgrade: websocket
Connection: upgrade

<<< raw
HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n
>>> raw
\x82\x23GET / HTTP/1.1\r\nHost: inner.org\r\n\r\n
<<< raw
\x82\x29HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n
