# Negative, overflowing and conflicting Content-Length values.
>>> raw
POST /neg HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\nPOST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcPOST /zeros HTTP/1.1\r\nHost: t\r\nContent-Length: 0003\r\n\r\nxyz
