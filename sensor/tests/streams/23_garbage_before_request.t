# Midstream pickup: the client stream starts inside a body; the response side inside
# another response. Parsing starts at the first real message in each.
>>> raw
rest of an earlier upload\r\nmore bytes\r\nPOST /after HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n
<<< raw
dy of an earlier response\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n
