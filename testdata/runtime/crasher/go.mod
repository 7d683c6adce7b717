module crasher

go 1.22
