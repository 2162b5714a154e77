# One request, one response with Content-Length.
>>>
GET /users/42?expand=orders HTTP/1.1
Host: api.example.com
User-Agent: curl/8.0

<<<
HTTP/1.1 200 OK
Content-Type: application/json
Content-Length: 13

<<< raw
{"id": 42 }\r\n
