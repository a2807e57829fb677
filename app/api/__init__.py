"""One blueprint per API. Views are thin: parse, call one service function, build the response."""
