module ticker

go 1.22
