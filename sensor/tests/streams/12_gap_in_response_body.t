# A gap inside a Content-Length body keeps the stream in step: the next exchange parses.
>>>
GET /1 HTTP/1.1
Host: h

<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234
<<< gap 10
<<< raw
56789
>>>
GET /2 HTTP/1.1
Host: h

<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
