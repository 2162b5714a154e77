# Transfer-Encoding folded onto a continuation line (obs-fold), a smuggling vector.
>>> raw
POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /smuggled-obsfold HTTP/1.1\r\nHost: target\r\n\r\n
