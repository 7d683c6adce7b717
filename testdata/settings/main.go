// Command settings is a Micro v3 service reading its config: config.Get
// with Micro's nil and error checks, Scan into a struct and the typed
// accessors. Its Go is Micro's but for the import paths
// (github.com/micro/micro/v3/service/... became micro.dev/micro/framework/...).
// e2e/microv3_test.go runs it with `micro run`, sets config with
// `micro config set` and calls it through the CLI.
package main

import (
	"context"
	"log"

	"micro.dev/micro/framework/config"
	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/service"
)

type Settings struct{}

type Limits struct {
	Max   int `json:"max"`
	Burst int `json:"burst"`
}

type ReadRequest struct{}

type ReadResponse struct {
	Greeting string `json:"greeting"`
	Limits   Limits `json:"limits"`
	Max      int    `json:"max"`
	Debug    bool   `json:"debug"`
	Key      string `json:"key"`
	Missing  string `json:"missing"`
	Raw      string `json:"raw"`
}

// Read reads the service's settings, with defaults for what is not set.
func (s *Settings) Read(ctx context.Context, req *ReadRequest, rsp *ReadResponse) error {
	val, err := config.Get("settings.greeting")
	if err != nil {
		return errors.InternalServerError("settings.Read", "reading config: %v", err)
	}
	if val == nil {
		return errors.InternalServerError("settings.Read", "no config value")
	}
	rsp.Greeting = val.String("Hello")

	limits, err := config.Get("settings.limits")
	if err == nil && limits != nil {
		if err := limits.Scan(&rsp.Limits); err != nil {
			return errors.BadRequest("settings.Read", "settings.limits: %v", err)
		}
	}
	if max, err := config.Get("settings.limits.max"); err == nil {
		rsp.Max = max.Int(10)
	}
	if debug, err := config.Get("settings.debug"); err == nil {
		rsp.Debug = debug.Bool(false)
	}
	if key, err := config.Get("settings.key", config.Secret(true)); err == nil && key.Exists() {
		rsp.Key = string(key.Bytes())
	}
	if missing, err := config.Get("settings.missing"); err == nil {
		rsp.Missing = missing.String("default")
		rsp.Raw = string(missing.Bytes())
	}
	return nil
}

func main() {
	srv := service.New(service.Name("settings"))
	srv.Handle(new(Settings))
	if err := srv.Run(); err != nil {
		log.Fatal(err)
	}
}
