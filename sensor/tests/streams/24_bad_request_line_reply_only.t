# A request line that is not one (method glued to the URI): no request is made, the
# response is recorded alone, as Zeek does.
>>> raw
GET/ HTTP/1.1\nHost: www.example.com\n\n
<<< raw
HTTP/1.0 400 Bad Request\r\nContent-Length: 5\r\n\r\nnope!
