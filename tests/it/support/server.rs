//! A scripted, fault-injecting HTTP/1.1 server on 127.0.0.1 for the integration tests.
//! (Being written: see the next commit.)
