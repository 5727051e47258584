module runner/agent

go 1.19
