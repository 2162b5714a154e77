# The server answers request 1 while request 2's head is still arriving: request 2 must
# not be cut short (only a server answering the partial request itself settles it).
>>> raw
GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHo
<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA
>>> raw
st: h\r\nUser-Agent: split\r\n\r\n
<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB
