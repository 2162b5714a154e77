# Lower-case status line, odd method, missing URI, Zeek-style URI with a space.
>>> raw
CCM_POST /a b HTTP/1.1\r\nHost: h\r\n\r\nOPTIONS HTTP/1.1\r\nHost: h\r\n\r\n
<<< raw
http/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1  400  Bad\r\nContent-Length: 0\r\n\r\n
