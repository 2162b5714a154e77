# Only the client side was captured.
>>>
POST /login HTTP/1.1
Host: h
Content-Type: application/json
Content-Length: 17

>>> raw
{"user":"alice"}\n
>>> fin
