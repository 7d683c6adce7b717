module version

go 1.22
