# A gap inside a request head: the partial request is still recorded, then parsing
# resumes at the next request line.
>>> raw
GET /partial HTTP/1.1\r\nHost: h\r\nAcc
>>> gap 30
>>> raw
ept: */*\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n
<<< raw
HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB
