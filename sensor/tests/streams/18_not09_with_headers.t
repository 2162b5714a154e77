# A request line without a version but followed by header lines (libhtp reads them).
>>> raw
GET /\nFakeHeader\nHost: localhost\nUser-Agent: myscript\n\n
<<< raw
<!DOCTYPE html>\n
<<< fin
