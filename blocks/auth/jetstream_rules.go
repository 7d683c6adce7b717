package auth

import (
	"context"
	"errors"
	"sort"
	"time"
)

// rulesValue is the value of rules.<ns>.
type rulesValue struct {
	Rules []Rule `json:"rules"`
}

func (b *jsBackend) Rules(ctx context.Context, ns string) ([]Rule, bool, error) {
	var v rulesValue
	at, err := b.get(ctx, rulesKey(ns), &v)
	if err != nil || at == 0 {
		return nil, false, err
	}
	rules := append([]Rule{}, v.Rules...)
	sort.SliceStable(rules, func(i, j int) bool {
		if rules[i].Priority != rules[j].Priority {
			return rules[i].Priority > rules[j].Priority
		}
		return rules[i].ID < rules[j].ID
	})
	return rules, true, nil
}

// defaultsIfNone makes the rules of ns to change: its own, else defaults, which the
// change then writes with it in one value.
func defaultsIfNone(v *rulesValue, present bool, defaults []Rule) {
	if !present {
		v.Rules = append([]Rule{}, defaults...)
	}
}

func (b *jsBackend) CreateRule(ctx context.Context, ns string, r Rule, defaults []Rule, now time.Time) error {
	return update(ctx, b, rulesKey(ns), func(v *rulesValue, present bool) (*rulesValue, error) {
		defaultsIfNone(v, present, defaults)
		for _, x := range v.Rules {
			if x.ID == r.ID {
				return nil, ErrExists
			}
		}
		v.Rules = append(v.Rules, r)
		return v, nil
	})
}

func (b *jsBackend) DeleteRule(ctx context.Context, ns, id string, defaults []Rule, now time.Time) error {
	return update(ctx, b, rulesKey(ns), func(v *rulesValue, present bool) (*rulesValue, error) {
		defaultsIfNone(v, present, defaults)
		for i, x := range v.Rules {
			if x.ID == id {
				v.Rules = append(v.Rules[:i], v.Rules[i+1:]...)
				return v, nil
			}
		}
		return nil, ErrNotFound // nothing written, as SQLite rolls back
	})
}

func (b *jsBackend) Keys(ctx context.Context, ns string) ([]Key, error) {
	var keys []Key
	if _, err := b.get(ctx, keysKey(ns), &keys); err != nil {
		return nil, err
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if !keys[i].Created.Equal(keys[j].Created) {
			return keys[i].Created.After(keys[j].Created)
		}
		return keys[i].ID < keys[j].ID
	})
	return keys, nil
}

// CreateKey stores the first signing key of a namespace: ErrExists when
// another node stored one first, which the keyring then loads, so a
// namespace gets one first key however many nodes sign at once.
func (b *jsBackend) CreateKey(ctx context.Context, k Key) error {
	err := b.put(ctx, keysKey(k.Namespace), []Key{k}, 0)
	if errors.Is(err, errConflict) {
		return ErrExists
	}
	return err
}
