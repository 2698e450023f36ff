# CAST: nginx module, daemons, local stack and tests.
#
#   make deps    install what is missing (Debian packages, Kafka jars)
#   make         build the nginx module and the daemons
#   make build   deps, then make
#   make run     build, then the whole stack in the foreground (Ctrl-C)
#   make up      build, then the stack in the background (make down)
#   make soak    build, then SOAK_SECONDS (900) of hostile traffic against
#                a private stack with the sanitized module (not in test)
#   make test    build, then unit tests, fuzz smoke, prove -r t/
#   make bench   build, then wrk against a fresh private stack

SHELL         := /bin/bash
.DEFAULT_GOAL := all

NGINX_SRC     ?= /usr/share/nginx/src
SAN           ?= 0

ifeq ($(SAN),1)
BUILD         := build/san
SANFLAGS      := -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=undefined
else
BUILD         := build
SANFLAGS      :=
endif

CC            ?= cc
CFLAGS        ?= -O2 -g
WARN          := -Wall -Wextra -Werror
ALL_CFLAGS    := -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) \
                 -Ingx_http_cast_module -Idaemons/common -I/usr/include/cjson
LIBS          := -lhiredis -lrdkafka -lpq -lcrypto -lcjson -lm -lpthread

# Pure C parts shared by the module, the daemons and the unit tests:
# ngx_http_cast_module/cast_*.c never include nginx headers.
PURE_SRCS     := $(sort $(wildcard ngx_http_cast_module/cast_*.c))
COMMON_SRCS   := $(sort $(wildcard daemons/common/*.c))
MODULE_SRCS   := $(sort $(wildcard ngx_http_cast_module/*.c \
                                   ngx_http_cast_module/*.h)) config

DAEMONS       := $(notdir $(patsubst %/,%,$(filter-out daemons/common/, \
                   $(sort $(wildcard daemons/*/)))))
DAEMON_BINS   := $(addprefix $(BUILD)/bin/cast-,$(DAEMONS))
UNIT_TESTS    := $(patsubst t/unit/%.c,$(BUILD)/test/%, \
                   $(sort $(wildcard t/unit/test_*.c)))
FUZZERS       := $(patsubst t/fuzz/%.c,build/fuzz/%, \
                   $(sort $(wildcard t/fuzz/fuzz_*.c)))

PURE_OBJS     := $(patsubst %.c,$(BUILD)/obj/%.o,$(PURE_SRCS) $(COMMON_SRCS))

.PHONY: all module daemons deps build unit fuzz fuzz-smoke test up down \
        run demo bench soak clean

all: module daemons

# --- the nginx module, built against the installed nginx ---------------------

module: $(BUILD)/ngx_http_cast_module.so

# SAN=1: the module with ASan and UBSan, for an nginx run with libasan
# preloaded (scripts/test.sh does, for the suites that drive nginx)
ifeq ($(SAN),1)
NGX_CC_OPT    := -g -O1 -fPIC -Wall -Wextra -Werror $(SANFLAGS)
NGX_LD_OPT    := $(SANFLAGS)
else
NGX_CC_OPT    := -g -O2 -fPIC -Wall -Wextra -Werror
NGX_LD_OPT    :=
endif

$(BUILD)/nginx/objs/Makefile: config $(wildcard ngx_http_cast_module/*.c)
	rm -rf $(BUILD)/nginx && mkdir -p $(BUILD) \
	    && cp -r $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && . ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt='$(NGX_CC_OPT)' --with-ld-opt='$(NGX_LD_OPT)' \
	    --add-dynamic-module=$(CURDIR) > configure.log \
	    || { tail -20 configure.log; exit 1; }

$(BUILD)/ngx_http_cast_module.so: $(BUILD)/nginx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules \
	    > $(BUILD)/module.log 2>&1 || { cat $(BUILD)/module.log; exit 1; }
	cp $(BUILD)/nginx/objs/ngx_http_cast_module.so $@.tmp
	mv -f $@.tmp $@

# --- daemons and unit tests ---------------------------------------------------

daemons: $(DAEMON_BINS)

$(BUILD)/obj/%.o: %.c $(wildcard ngx_http_cast_module/cast_*.h \
                                   daemons/*/*.h t/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# objects are kept: deleting them as intermediates races parallel builds
.SECONDARY:
.SECONDEXPANSION:
# a literal % inside patsubst: a bare one would be replaced by the stem
percent       := %
$(BUILD)/bin/cast-%: $$(patsubst $$(percent).c,$(BUILD)/obj/$$(percent).o,$$(wildcard daemons/$$*/*.c)) \
                     $(PURE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/test/%: $(BUILD)/obj/t/unit/%.o $(PURE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)

unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "unit: $$t"; $$t; done

# --- the GraphQL engine micro-benchmark --------------------------------------

$(BUILD)/bench/bench_gql: $(BUILD)/obj/bench/bench_gql.o $(PURE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)

# --- the soak client (t/soak): plain, fast; the server is the sanitized one

SOAK_SRCS     := $(sort $(wildcard t/soak/*.c))

build/soak/cast-soak: $(SOAK_SRCS) t/soak/soak.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -g -I/usr/include/cjson \
	    -o $@ $(SOAK_SRCS) -lcjson

# --- fuzzing (clang libFuzzer, ASan + UBSan) ----------------------------------

FUZZ_FLAGS    := -std=gnu11 -D_GNU_SOURCE -g -O1 \
                 -fsanitize=fuzzer,address,undefined \
                 -Ingx_http_cast_module -I/usr/include/cjson

build/fuzz/%: t/fuzz/%.c $(PURE_SRCS) $(wildcard ngx_http_cast_module/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(PURE_SRCS) $(LIBS)

# the outbox event codec lives with the daemons and needs only cJSON
build/fuzz/fuzz_event: t/fuzz/fuzz_event.c daemons/common/cast_event.c \
                       daemons/common/cast_event.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -Idaemons/common -o $@ $< \
	    daemons/common/cast_event.c -lcjson -lm

fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do n=$$(basename $$f); mkdir -p build/corpus/$$n; \
	    echo "fuzz: $$n for $${FUZZ_SECONDS:-300} s"; \
	    $$f -max_total_time=$${FUZZ_SECONDS:-300} build/corpus/$$n \
	        t/fuzz/corpus/$$n > build/fuzz/$$n.log 2>&1 \
	        || { tail -40 build/fuzz/$$n.log; exit 1; }; \
	    grep -E '^#[0-9]+.*DONE' build/fuzz/$$n.log | tail -1; done

fuzz-smoke:
	@$(MAKE) -s fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-20}

# --- dependencies, the local stack, tests ---------------------------------------

deps:
	@scripts/deps.sh

# what is missing installed first, then the build (a sub-make, so that
# it starts only once deps has finished)
build: deps
	@$(MAKE) -s all

up: build
	@scripts/stack.sh up

down:
	@scripts/stack.sh down

run: build
	@scripts/stack.sh run

test: build
	@$(MAKE) -s SAN=1 unit module
	@$(MAKE) -s fuzz-smoke
	@scripts/test.sh

demo:
	@scripts/demo.sh

bench: build
	@$(MAKE) -s $(BUILD)/bench/bench_gql
	@scripts/bench.sh

soak: build
	@$(MAKE) -s SAN=1 module daemons
	@$(MAKE) -s build/soak/cast-soak
	@scripts/soak.sh

clean:
	rm -rf build t/servroot
