package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	regpb "micro.dev/micro/proto/registry"
)

// request is a registry description with nested, list, map and typed
// fields, and a field whose own name holds '_'.
var request = &regpb.Value{Name: "Req", Type: "Req", Values: []*regpb.Value{
	{Name: "name", Type: "string"},
	{Name: "count", Type: "int64"},
	{Name: "ratio", Type: "float64"},
	{Name: "force", Type: "bool"},
	{Name: "tags", Type: "[]string"},
	{Name: "ids", Type: "[]int32"},
	{Name: "labels", Type: "map[string]string"},
	{Name: "user_id", Type: "string"},
	{Name: "options", Type: "Options", Values: []*regpb.Value{
		{Name: "namespace", Type: "string"},
		{Name: "deep", Type: "Deep", Values: []*regpb.Value{{Name: "level", Type: "int32"}}},
	}},
}}

func TestRequestFromFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--name=Jane"}, `{"name":"Jane"}`},
		{[]string{"--name", "Jane", "--count", "-3"}, `{"count":-3,"name":"Jane"}`},
		{[]string{"--count=9007199254740993"}, `{"count":9007199254740993}`},
		{[]string{"--force"}, `{"force":true}`},
		{[]string{"--force", "false", "--name=x"}, `{"force":false,"name":"x"}`},
		{[]string{"--ratio=0.5"}, `{"ratio":0.5}`},
		{[]string{"--tags=a,b", "--tags", "c"}, `{"tags":["a","b","c"]}`},
		{[]string{"--ids=1,2"}, `{"ids":[1,2]}`},
		{[]string{"--labels=a=1,b=2"}, `{"labels":{"a":"1","b":"2"}}`},
		{[]string{`--labels={"x":"y"}`}, `{"labels":{"x":"y"}}`},
		{[]string{"--user_id=u1"}, `{"user_id":"u1"}`},
		{[]string{"--user-id=u1"}, `{"user_id":"u1"}`},
		{[]string{"--options-namespace=foo"}, `{"options":{"namespace":"foo"}}`},
		{[]string{"--options_namespace=foo", "--options-deep-level=2"}, `{"options":{"deep":{"level":2},"namespace":"foo"}}`},
		{[]string{`--options={"namespace":"foo"}`}, `{"options":{"namespace":"foo"}}`},
		{[]string{"--name=<&>"}, `{"name":"<&>"}`},
		{nil, `{}`},
	}
	for _, c := range cases {
		got, err := requestFromFlags(request, c.args)
		if err != nil || string(got) != c.want {
			t.Errorf("%q: got %s %v, want %s", c.args, got, err, c.want)
		}
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--nope=1"}, "unknown flag: nope"},
		{[]string{"--count=abc"}, `invalid value for --count: want an integer (int64), got "abc"`},
		{[]string{"--force=maybe"}, "invalid value for --force: want true or false"},
		{[]string{"--ids=1,x"}, "invalid value for --ids"},
		{[]string{"--labels=novalue"}, "want a JSON object or key=value pairs"},
		{[]string{"--name"}, "flag --name needs a value"},
		{[]string{"stray"}, `unexpected argument "stray"`},
		{[]string{"--options={"}, "invalid JSON"},
	}
	for _, c := range bad {
		_, err := requestFromFlags(request, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error with %q", c.args, err, c.want)
		}
	}

	// Without a description any flag goes, as a string (or JSON).
	got, err := requestFromFlags(nil, []string{"--a=1", "--b-c=x", `--d={"e":true}`})
	if err != nil || string(got) != `{"a":"1","b":{"c":"x"},"d":{"e":true}}` {
		t.Errorf("undescribed: %s %v", got, err)
	}
}

func TestMatchEndpoint(t *testing.T) {
	eps := []*regpb.Endpoint{{Name: "Helloworld.Call"}, {Name: "Helloworld.PingPong"}, {Name: "Admin.ListUsers"}}
	cases := []struct {
		words []string
		want  string
		extra string
	}{
		{[]string{"call"}, "Helloworld.Call", ""},
		{[]string{"Call"}, "Helloworld.Call", ""},
		{[]string{"pingPong"}, "Helloworld.PingPong", ""},
		{[]string{"ping-pong"}, "Helloworld.PingPong", ""},
		{[]string{"helloworld", "call"}, "Helloworld.Call", ""},
		{[]string{"admin", "list-users"}, "Admin.ListUsers", ""},
		{[]string{"Helloworld.Call"}, "Helloworld.Call", ""},
		{[]string{"call", "Jane"}, "Helloworld.Call", "Jane"},
		{[]string{"nope"}, "", ""},
		{[]string{"admin"}, "", ""},
	}
	for _, c := range cases {
		ep, extra := matchEndpoint("helloworld", eps, c.words)
		got := ""
		if ep != nil {
			got = ep.Name
		}
		if got != c.want || extra != c.extra {
			t.Errorf("%q: got %q extra %q, want %q extra %q", c.words, got, extra, c.want, c.extra)
		}
	}
	if got := strings.Join(commandNames("helloworld", eps), ","); got != "call,pingPong,admin listUsers" {
		t.Errorf("command names %q", got)
	}
	if got := commandFor("go.micro.srv.greeter", &regpb.Endpoint{Name: "Greeter.Hello"}); got != "hello" {
		t.Errorf("dotted service: %q", got)
	}
}

func TestPrintService(t *testing.T) {
	var b bytes.Buffer
	printService(&b, []*regpb.Service{{
		Name: "helloworld", Version: "latest",
		Nodes: []*regpb.Node{{Id: "helloworld-1", Address: "127.0.0.1:1234", Metadata: map[string]string{"protocol": "grpc", "a": "b"}}},
		Endpoints: []*regpb.Endpoint{
			{Name: "Helloworld.Call", Request: request, Response: &regpb.Value{Name: "Rsp", Values: []*regpb.Value{{Name: "msg", Type: "string"}}}},
			{Name: "Helloworld.Stream", Metadata: map[string]string{"stream": "true"}},
		},
	}})
	want := `service  helloworld

version latest

ID            Address         Metadata
helloworld-1  127.0.0.1:1234  a=b,protocol=grpc

Endpoint: Helloworld.Call
Request: {
	name string
	count int64
	ratio float64
	force bool
	tags []string
	ids []int32
	labels map[string]string
	user_id string
	options Options {
		namespace string
		deep Deep {
			level int32
		}
	}
}
Response: {
	msg string
}

Endpoint: Helloworld.Stream
Metadata: stream=true
Request: {}
Response: {}
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestPlugin: an unknown command runs micro-<name> from PATH with the rest
// of the arguments and exits with its code.
func TestPlugin(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell script plugin")
	}
	isolate(t)
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"plugin got: $*\"\nexit 7\n"
	if err := os.WriteFile(filepath.Join(dir, "micro-hello"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, errOut, code := run(t, "hello", "a", "--b")
	if code != 7 || out != "plugin got: a --b\n" || errOut != "" {
		t.Fatalf("plugin: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Names that could be paths are never looked up.
	wantFail(t, 1, "Unrecognized micro command: ../hello. Please refer to 'micro --help'", "../hello")
}

// TestDefaultEndpoint: a bare service command calls <Service>.Call, as
// Micro does; a service without one has no default.
func TestDefaultEndpoint(t *testing.T) {
	eps := []*regpb.Endpoint{{Name: "Admin.Call"}, {Name: "Helloworld.Call"}, {Name: "Helloworld.Stream"}}
	if ep := defaultEndpoint("helloworld", eps); ep == nil || ep.Name != "Helloworld.Call" {
		t.Fatalf("helloworld: %v", ep)
	}
	if ep := defaultEndpoint("go.micro.srv.greeter", []*regpb.Endpoint{{Name: "Greeter.Call"}}); ep == nil {
		t.Fatal("dotted service: no default")
	}
	if ep := defaultEndpoint("store", []*regpb.Endpoint{{Name: "Store.Read"}, {Name: "Admin.Call"}}); ep != nil {
		t.Fatalf("store: %v", ep.Name)
	}
}
