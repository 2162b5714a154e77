# Chunk extensions and trailer fields.
>>>
POST /upload HTTP/1.1
Host: h
Transfer-Encoding: chunked

>>> raw
3;name=value\r\nabc\r\n0\r\nChecksum: 1234\r\n\r\n
<<< raw
HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n
