# ccroute: the two commands a user needs are `make demo` and `make test` (see README.md).
# Both install missing Debian packages (as root), build the extension and the module, and
# install the extension into the local PostgreSQL 15.

.PHONY: all deps build install demo test bench clean

all: build

deps:
	@scripts/install-deps.sh

# with_llvm=no: the JIT bitcode needs clang, which nothing else here needs.
build: deps
	@$(MAKE) -s -C pg_ext with_llvm=no
	@$(MAKE) -s -C kamailio_mod
	@$(MAKE) -s -C rules

# The extension goes where PostgreSQL looks for it; the module is loaded from the build tree by the
# tests and the demo, and `make -C kamailio_mod install` puts it beside Kamailio's own.
install: build
	@$(MAKE) -s -C pg_ext with_llvm=no install >/dev/null

demo: install
	@scripts/demo.sh

test: install
	@tests/run.sh

# Speed against the stock way, side by side; writes tests/bench/results/ (not run by CI).
bench: install
	@tests/bench/route_call.sh
	@tests/bench/sip_load.sh
	@tests/bench/failover.sh
	@tests/bench/ha.sh
	@tests/bench/sign_in.sh
	@tests/bench/reports.sh

clean:
	@$(MAKE) -s -C pg_ext clean
	@$(MAKE) -s -C kamailio_mod clean
	@$(MAKE) -s -C rules clean
