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
#   make bench   build, then wrk and cast-load against a fresh private stack
#   make k8s-e2e deps, then the image deployed on a real Kubernetes cluster
#                (KUBECONFIG's, or the local one of ../shared/k8s-local)

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

# The pure C parts, which never include nginx headers (docs/architecture.md):
#   lib/graphql      the GraphQL engine: the module, its unit tests,
#                    fuzzers and bench
#   lib/codec        the domain codecs: the module, the daemons, their tests
#   daemons/common   the daemons' runtime (config, log, HTTP, Redis, Kafka,
#                    PostgreSQL, the outbox event)
ENGINE_DIR    := lib/graphql
CODEC_DIR     := lib/codec
COMMON_DIR    := daemons/common

ENGINE_SRCS   := $(sort $(wildcard $(ENGINE_DIR)/*.c))
CODEC_SRCS    := $(sort $(wildcard $(CODEC_DIR)/*.c))
COMMON_SRCS   := $(sort $(wildcard $(COMMON_DIR)/*.c))
PURE_HDRS     := $(sort $(wildcard $(ENGINE_DIR)/*.h $(CODEC_DIR)/*.h \
                                   $(COMMON_DIR)/*.h))
INCLUDES      := $(addprefix -I,$(sort $(ENGINE_DIR) $(CODEC_DIR) \
                                       $(COMMON_DIR))) -I/usr/include/cjson
# a daemon sees only the codecs and its runtime, never the engine
DAEMON_INCS   := -I$(COMMON_DIR) -I$(CODEC_DIR) -I/usr/include/cjson

CC            ?= cc
AR            ?= ar
CFLAGS        ?= -O2 -g
WARN          := -Wall -Wextra -Werror
ALL_CFLAGS    := -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS)
LIBS          := -lhiredis -lrdkafka -lpq -lcrypto -lcjson -lm -lpthread

MODULE_SRCS   := $(sort $(wildcard ngx_http_cast_module/*.c \
                                   ngx_http_cast_module/*.h \
                                   $(ENGINE_DIR)/*.h $(CODEC_DIR)/*.h) \
                        $(ENGINE_SRCS) $(CODEC_SRCS)) config

DAEMONS       := $(notdir $(patsubst %/,%,$(filter-out daemons/common/, \
                   $(sort $(wildcard daemons/*/)))))
DAEMON_BINS   := $(addprefix $(BUILD)/bin/cast-,$(DAEMONS))
UNIT_TESTS    := $(patsubst t/unit/%.c,$(BUILD)/test/%, \
                   $(sort $(wildcard t/unit/test_*.c)))
FUZZERS       := $(patsubst t/fuzz/%.c,build/fuzz/%, \
                   $(sort $(wildcard t/fuzz/fuzz_*.c)))

objs           = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# One archive per part: a binary gets from it only the objects it uses,
# and a daemon is not even given the engine's.
ENGINE_LIB    := $(BUILD)/lib/libcast_gql.a
CODEC_LIB     := $(BUILD)/lib/libcast_codec.a
COMMON_LIB    := $(BUILD)/lib/libcast_common.a

# what links what, users before what they use
DAEMON_LINK   := $(COMMON_LIB) $(CODEC_LIB)
TEST_LINK     := $(ENGINE_LIB) $(COMMON_LIB) $(CODEC_LIB)
BENCH_LINK    := $(ENGINE_LIB) $(CODEC_LIB)

ALL_OBJS      := $(call objs,$(ENGINE_SRCS) $(CODEC_SRCS) $(COMMON_SRCS) \
                   $(wildcard daemons/*/*.c t/unit/*.c bench/*.c))

.PHONY: all module daemons deps build unit fuzz fuzz-smoke test up down \
        run demo bench soak k8s-e2e clean

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

$(BUILD)/nginx/objs/Makefile: config $(wildcard ngx_http_cast_module/*.c) \
                              $(ENGINE_SRCS) $(CODEC_SRCS)
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

# each object depends on the headers it includes, which -MMD writes down
# in its .d file; an object without one is made again
OBJ_INCS       = $(INCLUDES)
$(BUILD)/obj/daemons/%.o: OBJ_INCS = $(DAEMON_INCS)

$(BUILD)/obj/%.o: %.c $(BUILD)/obj/%.d
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(OBJ_INCS) -MMD -MP -c $< -o $@

# named, so not intermediate: a missing one is out of date
$(ALL_OBJS:.o=.d):

-include $(ALL_OBJS:.o=.d)

$(ENGINE_LIB): $(call objs,$(ENGINE_SRCS))
$(CODEC_LIB): $(call objs,$(CODEC_SRCS))
$(COMMON_LIB): $(call objs,$(COMMON_SRCS))
$(ENGINE_LIB) $(CODEC_LIB) $(COMMON_LIB):
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# objects are kept: deleting them as intermediates races parallel builds
# (the archives are not: a missing one is made, and what links it again)
.SECONDARY: $(ALL_OBJS)
.SECONDEXPANSION:
# --as-needed: a daemon records only the shared libraries it calls
$(BUILD)/bin/cast-%: $$(call objs,$$(wildcard daemons/$$*/*.c)) $(DAEMON_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -Wl,--as-needed -o $@ $^ $(LIBS)

$(BUILD)/test/%: $(BUILD)/obj/t/unit/%.o $(TEST_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)

unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "unit: $$t"; $$t; done

# --- the GraphQL engine micro-benchmark --------------------------------------

$(BUILD)/bench/bench_gql: $(BUILD)/obj/bench/bench_gql.o $(BENCH_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)

# the subscriptions' load client (bench/sse.sh): plain, fast
$(BUILD)/bench/sse_load: bench/sse_load.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -g -o $@ $< -lpthread

# the kernel's floor under the subscriptions' fan-out (bench/sse.sh)
$(BUILD)/bench/sse_floor: bench/sse_floor.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -g -o $@ $<

# the constant-rate load generator of the latency sweep (scripts/bench.sh)
$(BUILD)/bench/cast-load: $(BUILD)/obj/bench/cast_load.o
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^

# --- the soak client (t/soak): plain, fast; the server is the sanitized one

SOAK_SRCS     := $(sort $(wildcard t/soak/*.c))

build/soak/cast-soak: $(SOAK_SRCS) t/soak/soak.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -g -I/usr/include/cjson \
	    -o $@ $(SOAK_SRCS) -lcjson

# --- fuzzing (clang libFuzzer, ASan + UBSan) ----------------------------------

FUZZ_FLAGS    := -std=gnu11 -D_GNU_SOURCE -g -O1 \
                 -fsanitize=fuzzer,address,undefined $(INCLUDES)

# what each fuzzer links besides its own file
FUZZ_SRCS_fuzz_graphql := $(ENGINE_SRCS) $(CODEC_SRCS)
FUZZ_SRCS_fuzz_inflight := $(ENGINE_SRCS) $(CODEC_SRCS)
FUZZ_SRCS_fuzz_ticket  := $(CODEC_DIR)/cast_ticket.c
FUZZ_SRCS_fuzz_event   := $(COMMON_DIR)/cast_event.c $(CODEC_DIR)/cast_name.c \
                          $(CODEC_DIR)/cast_utf8.c
FUZZ_SRCS_fuzz_outbox  := $(COMMON_DIR)/cast_outbox.c $(FUZZ_SRCS_fuzz_event)

build/fuzz/%: t/fuzz/%.c $$(FUZZ_SRCS_$$*) $(PURE_HDRS) $(wildcard t/fuzz/*.h) \
              t/unit/test_pool.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_SRCS_$*) $(LIBS)

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
	@$(MAKE) -s $(BUILD)/bench/bench_gql $(BUILD)/bench/sse_load \
	    $(BUILD)/bench/sse_floor $(BUILD)/bench/cast-load
	@scripts/bench.sh

# build-and-deploy.sh builds the image itself; logs in build/k8s-e2e/,
# KEEP=1 leaves the cluster running (k8s/tests/e2e.t)
k8s-e2e: deps
	@prove -v k8s/tests/e2e.t

soak: build
	@$(MAKE) -s SAN=1 module daemons
	@$(MAKE) -s build/soak/cast-soak
	@scripts/soak.sh

clean:
	rm -rf build t/servroot
