# HTTP/0.9: no version, no headers; the response is raw bytes until close.
>>> raw
GET /index.html\n
<<< raw
<html>hello</html>\n
<<< fin
