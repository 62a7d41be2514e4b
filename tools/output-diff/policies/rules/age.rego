package palisade.rules.age

import rego.v1

max_days := 90

deny contains msg if {
	created := time.parse_rfc3339_ns(input.image.created)
	now := time.parse_rfc3339_ns(input.now)
	days := floor((now - created) / (((24 * 60) * 60) * 1000000000))
	days > max_days
	msg := sprintf("image is %v days old (created %s); rebuild at least every %v days", [days, input.image.created, max_days])
}
