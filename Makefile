# One command per target; anything longer lives in scripts/ or in Rust.
.PHONY: build run test bench fuzz fmt clean

build:
	cargo build --release --locked
	install -m 0755 target/release/directus target/release/directus-server bin/

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
