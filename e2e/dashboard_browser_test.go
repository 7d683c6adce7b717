//go:build unix

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"micro.dev/micro/internal/testkit"
)

// chromium finds the browser the dashboard tests drive. Without one the
// tests skip on a developer's machine but fail in CI (CI=true), where
// .ci/run installs it: a browser test that silently skips proves nothing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: CI must install it (.ci/run)")
	}
	t.Skip("no chromium on PATH; install it to run the dashboard's browser tests")
	return ""
}

// newBrowser starts one headless chromium for the test and returns a tab's
// context. Background networking, sync and updates are off: the browser
// talks to loopback only.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	// Accept the page's confirm() dialogs (deleting asks first).
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx
}

// browse runs actions in the tab, failing the test with what the page
// showed when they fail or take more than 30 seconds.
func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		dump, cancelDump := context.WithTimeout(ctx, 5*time.Second)
		defer cancelDump()
		url, _ := chromedp.Run(dump, chromedp.Location())
		text, _ := chromedp.Run(dump, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s: %v\npage %s shows:\n%s", what, err, url, text)
	}
}

// waitText waits until the first element matching sel contains text.
func waitText(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const el = document.querySelector(%q); return !!el && el.textContent.includes(%q); })()`, sel, text),
		chromedp.WithPollingInterval(50*time.Millisecond))
}

// waitPath waits until the page's path (and query) is want.
func waitPath(want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`location.pathname + location.search === %q`, want),
		chromedp.WithPollingInterval(50*time.Millisecond))
}

// dashboardFixture is a server with the dashboard on, helloworld
// registered, ticker run by the runtime, and a browser.
type dashboardFixture struct {
	s      *server
	c      *cli
	ctx    context.Context
	ticker string
}

func newDashboardFixture(t *testing.T) *dashboardFixture {
	t.Helper()
	ctx := newBrowser(t)
	s := startServer(t, "", "--dashboard-address", "127.0.0.1:0")
	startService(t, s, helloBinPath(t), "MICRO_TRACE=true") // its spans join the gateway's
	c := newAdminCLI(t, s)
	ticker := copyTestdata(t, "ticker")
	c.ok("run", ticker)
	waitStatus(t, c, "ticker", "running")
	return &dashboardFixture{s: s, c: c, ctx: ctx, ticker: ticker}
}

// login signs in through the form, coming from path.
func (f *dashboardFixture) login(t *testing.T, path string) {
	t.Helper()
	browse(t, f.ctx, "sign in",
		chromedp.Navigate(f.s.dashboard+path),
		waitPath("/login?next="+strings.ReplaceAll(path, "/", "%2F")),
		chromedp.SendKeys(chromedp.CSS(`input[name=id]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name=secret]`), "micro\n"),
		waitPath(path),
	)
}

// TestDashboardBrowser drives the real dashboard in headless chromium
// against the real binary: every page a user relies on, through its own
// forms and buttons.
func TestDashboardBrowser(t *testing.T) {
	t.Parallel()
	f := newDashboardFixture(t)
	ctx := f.ctx
	f.login(t, "/services")

	browse(t, ctx, "the service list", waitText(`ul.services`, "helloworld"), waitText(`ul.services`, "store"),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll('ul.services li')].some((li) => /^helloworld latest 1 node up$/.test(li.textContent))`,
			chromedp.WithPollingInterval(50*time.Millisecond)))

	// Call an endpoint through the form generated from its request shape.
	browse(t, ctx, "call helloworld",
		chromedp.Navigate(f.s.dashboard+"/service/helloworld/Helloworld.Call"),
		chromedp.WaitVisible(chromedp.CSS(`form.call input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`form.call input[name="name"]`), "Alice"),
		chromedp.Click(chromedp.CSS(`form.call button[type=submit]`)),
		waitText(`.response`, "Hello Alice"),
		waitText(`.response .outcome`, "200"),
		waitText(`.curl`, `-d '{"name":"Alice"}'`),
		waitText(`.cli`, `micro call helloworld Helloworld.Call '{"name":"Alice"}'`),
		waitText(`.history`, "Helloworld.Call"),
	)

	// The call just made is a trace: listed under helloworld, and shown as
	// a waterfall with the service's span nested under the gateway's.
	testkit.Eventually(t, 20*time.Second, "helloworld's trace to be recorded", func() bool {
		out, _, code := f.c.run("traces", "--service", "helloworld")
		return code == 0 && strings.Contains(out, "helloworld")
	})
	browse(t, ctx, "list traces, filter, open one as a waterfall",
		chromedp.Navigate(f.s.dashboard+"/traces"),
		chromedp.WaitVisible(chromedp.CSS(`form.traces-filter input[name=service]`)),
		chromedp.SendKeys(chromedp.CSS(`form.traces-filter input[name=service]`), "no-such-service\n"),
		waitPath("/traces?service=no-such-service"),
		waitText(`main`, `No traces with a span of "no-such-service"`),
		chromedp.Navigate(f.s.dashboard+"/traces?service=helloworld"),
		waitText(`table.traces`, "gateway"),
		chromedp.Click(chromedp.CSS(`table.traces a.trace-id`)),
		waitText(`table.waterfall`, "helloworld"),
		// The helloworld server span sits under the gateway's, deeper, and
		// starts no earlier on the timeline; every bar has a width.
		chromedp.Poll[chromedp.Void](`(() => {
			const rows = [...document.querySelectorAll('table.waterfall tbody tr')];
			const gw = rows.findIndex((r) => r.cells[1].textContent === 'gateway');
			const hw = rows.findIndex((r) => r.cells[1].textContent === 'helloworld' && /Helloworld/.test(r.cells[0].textContent));
			return gw === 0 && hw > gw && Number(rows[hw].dataset.depth) > 0 &&
				rows.every((r) => r.querySelector('.bar').style.width.endsWith('%')) &&
				rows.every((r) => r.cells[2].textContent.startsWith('ok'));
		})()`, chromedp.WithPollingInterval(50*time.Millisecond)),
	)

	// Follow a service's logs: new lines appear while the page is open.
	countTicks := `(document.querySelector('pre.log')?.textContent.match(/ticker tick/g) || []).length`
	browse(t, ctx, "follow ticker's logs",
		chromedp.Navigate(f.s.dashboard+"/runtime"),
		waitText(`table.runtime`, "running"),
		chromedp.Click(chromedp.CSS(`button[data-logs="ticker"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=follow]`)),
		chromedp.Click(chromedp.CSS(`input[name=follow]`)),
		waitText(`.logs .log-status`, "Following"),
		chromedp.Poll[chromedp.Void](countTicks+` > 0`, chromedp.WithPollingInterval(50*time.Millisecond)),
	)
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](countTicks))
	if err != nil {
		t.Fatal(err)
	}
	browse(t, ctx, "new log lines arrive",
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`%s >= %d`, countTicks, before+3), chromedp.WithPollingInterval(50*time.Millisecond)))

	// Create a store record, see it, delete it; the table's blobs are
	// listed under its keys.
	if _, errOut, code := f.c.runIn("a blob", "blob", "put", "--table", "dashboard", "logo.png", "-"); code != 0 {
		t.Fatalf("micro blob put: %d %s", code, errOut)
	}
	browse(t, ctx, "write a store record",
		chromedp.Navigate(f.s.dashboard+"/store?database=micro&table=dashboard"),
		waitText(`main`, "No keys in this table"),
		waitText(`ul.blob-keys`, "logo.png"),
		chromedp.SendKeys(chromedp.CSS(`form.write input[name=key]`), "greeting"),
		chromedp.SendKeys(chromedp.CSS(`form.write textarea[name=value]`), "hello from the browser"),
		chromedp.Click(chromedp.CSS(`form.write button[type=submit]`)),
		waitPath("/store?database=micro&table=dashboard&key=greeting"),
		waitText(`main`, "hello from the browser"),
	)
	if out := f.c.ok("store", "read", "--database", "micro", "--table", "dashboard", "greeting"); !strings.Contains(out, "hello from the browser") {
		t.Errorf("micro store read after the dashboard wrote: %q", out)
	}
	browse(t, ctx, "delete the store record",
		chromedp.Click(chromedp.CSS(`button.danger`)),
		waitPath("/store?database=micro&table=dashboard"),
		waitText(`main`, "No keys in this table"),
	)

	// Set a config value; secrets stay masked in the tree.
	browse(t, ctx, "set a config value",
		chromedp.Navigate(f.s.dashboard+"/config"),
		chromedp.WaitVisible(chromedp.CSS(`form.config-set input[name=path]`)),
		chromedp.SendKeys(chromedp.CSS(`form.config-set input[name=path]`), "dashboard.greeting"),
		chromedp.SendKeys(chromedp.CSS(`form.config-set textarea[name=value]`), `"hi there"`),
		chromedp.Click(chromedp.CSS(`form.config-set button[type=submit]`)),
		waitText(`.config-tree`, "hi there"),
	)
	if out := f.c.ok("config", "get", "dashboard.greeting"); !strings.Contains(out, "hi there") {
		t.Errorf("micro config get after the dashboard set it: %q", out)
	}

	// A rule made on the auth page denies a call; the 403 names the rule.
	browse(t, ctx, "create a deny rule",
		chromedp.Navigate(f.s.dashboard+"/auth"),
		waitText(`table.rules`, "default"),
		chromedp.Click(chromedp.CSS(`details:has(form.rule-create) > summary`)),
		chromedp.SendKeys(chromedp.CSS(`form.rule-create input[name=rule-id]`), "no-hello"),
		chromedp.SendKeys(chromedp.CSS(`form.rule-create input[name=rule-scope]`), "*"),
		chromedp.SetValue(chromedp.CSS(`form.rule-create input[name=rule-resource]`), "service:helloworld:*"),
		chromedp.SetValue(chromedp.CSS(`form.rule-create select[name=rule-access]`), "DENIED"),
		chromedp.SetValue(chromedp.CSS(`form.rule-create input[name=rule-priority]`), "100"),
		chromedp.Click(chromedp.CSS(`form.rule-create button[type=submit]`)),
		waitText(`table.rules`, "no-hello"),
	)
	browse(t, ctx, "a denied call says which rule",
		chromedp.Navigate(f.s.dashboard+"/service/helloworld/Helloworld.Call"),
		chromedp.WaitVisible(chromedp.CSS(`form.call input[name="name"]`)),
		chromedp.Click(chromedp.CSS(`form.call button[type=submit]`)),
		waitText(`.response .outcome`, "403"),
		waitText(`.response .notice`, `denied by rule "no-hello"`),
	)
	browse(t, ctx, "delete the rule",
		chromedp.Navigate(f.s.dashboard+"/auth"),
		chromedp.Click(chromedp.CSS(`button[aria-label="Delete rule no-hello"]`)),
		waitText(`main`, "Deleted rule no-hello"),
		chromedp.Poll[chromedp.Void](`!document.querySelector('table.rules').textContent.includes('no-hello')`,
			chromedp.WithPollingInterval(50*time.Millisecond)),
	)

	// Follow a topic live and watch an event published elsewhere arrive.
	browse(t, ctx, "follow a topic",
		chromedp.Navigate(f.s.dashboard+"/events?topic=dashboard"),
		chromedp.Click(chromedp.CSS(`form.tail button[type=submit]`)),
		waitText(`.tail-status`, "Following dashboard"),
	)
	token := f.s.adminToken(t)
	if code, body := postAs(t, token, f.s.gateway+"/events/Stream/Publish",
		`{"topic":"dashboard","payload":"`+b64(`{"said":"live from curl"}`)+`"}`); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	browse(t, ctx, "the event arrives", waitText(`.events`, "live from curl"))

	// Without a token, a page sends the user to sign in; so does a token
	// the API refuses (401), once the page's first call comes back.
	browse(t, ctx, "set a token the API refuses",
		chromedp.Evaluate[chromedp.Void](`document.cookie = "micro-token=not-a-token; Path=/"`),
		chromedp.Navigate(f.s.dashboard+"/store"))
	waitLocation(t, ctx, f.s.dashboard+"/login?next=%2Fstore")
	browse(t, ctx, "drop the token",
		chromedp.Evaluate[chromedp.Void](`document.cookie = "micro-token=; Path=/; Max-Age=0"`),
		chromedp.Navigate(f.s.dashboard+"/config"))
	waitLocation(t, ctx, f.s.dashboard+"/login?next=%2Fconfig")
}

// waitLocation waits until the tab shows url, across the page's own
// navigations (which end a poll running in the page).
func waitLocation(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		got, _ = chromedp.Run(c, chromedp.Location())
		cancel()
		if got == url {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the tab is at %q, want %q", got, url)
}

// b64 is s base64-encoded, as protojson carries bytes.
func b64(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// TestDashboardScreenshots writes PNGs of the main pages at desktop and
// phone width into $MICRO_SCREENSHOTS (make screenshots); it is not run
// otherwise.
func TestDashboardScreenshots(t *testing.T) {
	dir := os.Getenv("MICRO_SCREENSHOTS")
	if dir == "" {
		t.Skip("set MICRO_SCREENSHOTS to a folder to write the dashboard's screenshots (make screenshots)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := newDashboardFixture(t)
	f.login(t, "/services")
	f.c.ok("store", "write", "--database", "micro", "--table", "users", "alice", `{"name":"Alice","plan":"pro"}`)
	f.c.ok("config", "set", "helloworld.greeting", `"Hello"`)
	f.c.ok("config", "set", "--secret", "helloworld.apikey", `"s3cret"`)
	for i := 1; i <= 3; i++ {
		f.c.ok("events", "publish", "orders", fmt.Sprintf(`{"id":%d,"item":"book"}`, i))
	}

	shots := []struct {
		name, path, ready string
		do                []chromedp.Action[chromedp.Void]
	}{
		{"services", "/services", `ul.services`, nil},
		{"endpoint", "/service/helloworld/Helloworld.Call", `form.call`, []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.CSS(`form.call input[name="name"]`), "Alice"),
			chromedp.Click(chromedp.CSS(`form.call button[type=submit]`)),
			waitText(`.response`, "Hello Alice"),
		}},
		{"runtime", "/runtime", `table.runtime`, []chromedp.Action[chromedp.Void]{
			chromedp.Click(chromedp.CSS(`button[data-logs="ticker"]`)),
			waitText(`pre.log`, "ticker tick"),
		}},
		{"store", "/store?database=micro&table=users&key=alice", `pre`, nil},
		{"config", "/config", `.config-tree`, nil},
		{"events", "/events?topic=orders", `table.topics`, nil},
		{"auth", "/auth", `table.rules`, nil},
	}
	sizes := []struct {
		suffix        string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}}
	for _, size := range sizes {
		for _, s := range shots {
			actions := []chromedp.Action[chromedp.Void]{
				chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateMobile),
				chromedp.Navigate(f.s.dashboard + s.path),
				chromedp.WaitVisible(s.ready),
			}
			if !size.mobile {
				actions[0] = chromedp.EmulateViewport(size.width, size.height)
			}
			actions = append(actions, s.do...)
			actions = append(actions, chromedp.Sleep(200*time.Millisecond))
			browse(t, f.ctx, "screenshot "+s.name, actions...)
			png, err := chromedp.Run(f.ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, s.name+"-"+size.suffix+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
