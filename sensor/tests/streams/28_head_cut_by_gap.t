# A response head cut by a gap (a snaplen cut looks the same): the status line still makes
# the record; the body length is unknown, not the head's bytes.
>>>
GET /health HTTP/1.1
Host: h

<<< raw
HTTP/1.1 200 OK\r\nServer: sample-api/1.0 Python/3.11.7\r\nDa
<<< gap 85
<<< raw
ok
<<< fin
>>> fin
