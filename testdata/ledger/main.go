// Command ledger uses the store and events clients inside a service, with
// Micro's defaults: it consumes the topic ledger.entries in the consumer
// group "ledger" with explicit acks, writes each entry to the store (the
// database is the service's namespace, the table its name, "ledger"),
// publishes ledger.recorded, and serves the balance on Ledger.Balance. An
// entry that is not valid JSON is nacked until, after LEDGER_RETRY_LIMIT
// redeliveries (default 2), it goes to ledger.entries.dead.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"micro.dev/micro/framework/errors"
	"micro.dev/micro/framework/events"
	"micro.dev/micro/framework/service"
	"micro.dev/micro/framework/store"
)

// Entry is one ledger entry.
type Entry struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount"`
}

// Recorded is published once an entry is stored.
type Recorded struct {
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
}

// Ledger serves the balance.
type Ledger struct{}

// BalanceRequest is empty.
type BalanceRequest struct{}

// BalanceResponse is the sum of the entries and how many there are.
type BalanceResponse struct {
	Balance int64 `json:"balance"`
	Entries int   `json:"entries"`
}

// Balance sums the entries in the store.
func (*Ledger) Balance(ctx context.Context, req *BalanceRequest, rsp *BalanceResponse) error {
	recs, err := store.Read("entry/", store.ReadPrefix())
	if err != nil && err != store.ErrNotFound {
		return err
	}
	for _, r := range recs {
		var e Entry
		if err := json.Unmarshal(r.Value, &e); err != nil {
			return errors.InternalServerError("ledger", "entry %s: %v", r.Key, err)
		}
		rsp.Balance += e.Amount
		rsp.Entries++
	}
	return nil
}

// record stores one entry and announces it.
func record(ev events.Event) error {
	var e Entry
	if err := ev.Unmarshal(&e); err != nil || e.ID == "" {
		return fmt.Errorf("not an entry: %q", ev.Payload)
	}
	if err := store.Write(&store.Record{Key: "entry/" + e.ID, Value: ev.Payload}); err != nil {
		return err
	}
	var b BalanceResponse
	if err := new(Ledger).Balance(context.Background(), nil, &b); err != nil {
		return err
	}
	return events.Publish("ledger.recorded", Recorded{ID: e.ID, Balance: b.Balance})
}

func consume(evs <-chan events.Event) {
	for ev := range evs {
		if err := record(ev); err != nil {
			fmt.Printf("ledger: event %d nacked: %v\n", ev.Sequence, err)
			ev.Nack()
			continue
		}
		if err := ev.Ack(); err != nil {
			fmt.Printf("ledger: ack of event %d: %v\n", ev.Sequence, err)
			continue
		}
		fmt.Printf("ledger: event %d recorded\n", ev.Sequence)
	}
}

func main() {
	retries := 2
	if v := os.Getenv("LEDGER_RETRY_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			slog.Error("LEDGER_RETRY_LIMIT must be a number", "value", v)
			os.Exit(1)
		}
		retries = n
	}
	srv := service.New(service.Name("ledger"))
	if err := srv.Handle(new(Ledger)); err != nil {
		slog.Error("registering the handler", "err", err)
		os.Exit(1)
	}
	evs, err := events.Consume("ledger.entries", events.Group("ledger"), events.AutoAck(false),
		events.AckWait(5*time.Second), events.RetryLimit(retries))
	if err != nil {
		slog.Error("consuming ledger.entries", "err", err)
		os.Exit(1)
	}
	go consume(evs)
	if err := srv.Run(); err != nil {
		slog.Error("ledger stopped", "err", err)
		os.Exit(1)
	}
}
