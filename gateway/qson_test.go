package gateway

import (
	"encoding/json"
	"testing"

	"micro.dev/micro/framework/errors"
)

func TestDecodeQuery(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{"", `{}`},
		{"a=1&b=true&c=x", `{"a":1,"b":true,"c":"x"}`},
		{"a=null&b=false&c=1.5&d=-2e3", `{"a":null,"b":false,"c":1.5,"d":-2e3}`},
		{"big=12345678901234567890", `{"big":12345678901234567890}`},
		{"a=007&b=1x&c=", `{"a":"007","b":"1x","c":""}`},
		{"a=%221%22", `{"a":"1"}`},
		{"s=hello+world&t=a%26b%3Dc", `{"s":"hello world","t":"a&b=c"}`},
		{"a[b][c]=2", `{"a":{"b":{"c":2}}}`},
		{"a[b]=1&a[c]=x", `{"a":{"b":1,"c":"x"}}`},
		{"a[]=1&a[]=2&a[]=x", `{"a":[1,2,"x"]}`},
		{"a[b][]=1&a[b][]=2", `{"a":{"b":[1,2]}}`},
		{"a.b=1&a.c.d=x", `{"a":{"b":1,"c":{"d":"x"}}}`},
		{"options.database=db&options.limit=10&key=k", `{"key":"k","options":{"database":"db","limit":10}}`},
		{"m[x.y]=1", `{"m":{"x.y":1}}`},
		{"a.b[c]=1", `{"a":{"b":{"c":1}}}`},
		{"a%5Bb%5D=1", `{"a":{"b":1}}`},
		{"a=[1,2]&a[]=3", `{"a":[1,2,3]}`},
		{`a={"x":1}&a[y]=2`, `{"a":{"x":1,"y":2}}`},
		{"a=1&a=2", `{"a":2}`},          // last wins, as qson
		{"a=1&a[b]=2", `{"a":{"b":2}}`}, // a later key needing an object replaces a value
		{"a[b]=2&a=1", `{"a":1}`},
		{"a=1&a[]=2", `{"a":[2]}`},
		{"flag", `{"flag":""}`},
		{"&&a=1&&=2&", `{"a":1}`},
		{"a=1 2", `{"a":"1 2"}`},
		{"a=%20true%20", `{"a":true}`},
		{"html=<b>", `{"html":"<b>"}`},
	} {
		m, err := DecodeQuery(tc.query)
		if err != nil {
			t.Errorf("%q: %v", tc.query, err)
			continue
		}
		got, err := encodeJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("%q: got %s, want %s", tc.query, got, tc.want)
		}
	}
}

func TestDecodeQueryRejects(t *testing.T) {
	deep := "a"
	for range maxQueryDepth {
		deep += "[x]"
	}
	for _, q := range []string{
		"a[b=1", "a]=1", "a[b]c=1", "[a]=1", ".a=1", "a.=1", "a..b=1", "a[[b]]=1",
		"a[][b]=1", "a%zz=1", "a=%zz", deep + "=1",
	} {
		m, err := DecodeQuery(q)
		if err == nil {
			t.Errorf("%q: accepted as %v", q, m)
			continue
		}
		if e := errors.FromError(err, ""); e.Code != 400 {
			t.Errorf("%q: code %d", q, e.Code)
		}
	}
}

func TestMergeUnder(t *testing.T) {
	q, err := DecodeQuery("a=1&b[c]=2&b[d]=3&e=q")
	if err != nil {
		t.Fatal(err)
	}
	body, err := decodeObject([]byte(`{"a":9,"b":{"c":"body"},"e":null,"f":12345678901234567890}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := encodeJSON(mergeUnder(q, body))
	want := `{"a":9,"b":{"c":"body","d":3},"e":null,"f":12345678901234567890}`
	if string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func FuzzQueryDecode(f *testing.F) {
	for _, s := range []string{
		"", "a=1", "a=1&b=true&c=x", "a[b][c]=2", "a[]=1&a[]=2", "a.b=1", "m[x.y]=z",
		"a=1&a[b]=2", "a[b=1", "a%5B%5D=%7B%7D", `a={"b":[1,{"c":null}]}`, "=&=", "a[]b",
		"a=%ff", "a[][]=1", "x.y[z][]=1&x.y[z][]=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		m, err := DecodeQuery(q)
		if err != nil {
			if e := errors.FromError(err, ""); e.Code != 400 {
				t.Fatalf("%q: error code %d", q, e.Code)
			}
			return
		}
		b, err := encodeJSON(m)
		if err != nil {
			t.Fatalf("%q: encode: %v", q, err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q: %s is not a JSON object: %v", q, b, err)
		}
	})
}
