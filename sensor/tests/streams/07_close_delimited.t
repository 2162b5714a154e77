# An HTTP/1.0 response without Content-Length ends when the server closes.
>>>
GET /stream HTTP/1.0

<<< raw
HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nline one\nline two\n
<<< fin
>>> fin
