# A chunk size that overflows 63 bits ends the body; parsing resumes at the next request.
>>> raw
POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n\r\nGET /smuggled-chunk HTTP/1.1\r\nHost: target\r\n\r\n
