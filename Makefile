# One command per target; anything longer lives in scripts/ or in Rust.
.PHONY: build run test bench fuzz fmt clean

# bin/ gets stripped copies; target/release keeps the debug info (profile.release debug = 1)
# for perf and other profilers.
build:
	cargo build --release --locked
	install -s -m 0755 target/release/directus target/release/directus-server bin/

run: build
	bin/directus-server

test:
	scripts/test.sh

bench:
	scripts/bench.sh

fuzz:
	scripts/fuzz.sh

fmt:
	cargo fmt

clean:
	cargo clean
