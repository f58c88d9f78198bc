/* SPDX-License-Identifier: Apache-2.0
 *
 * The rule budget: one process-wide thread that stops a rule which has used more than
 * its budget of CPU time on one event.
 *
 * Why not an instruction count hook: while a count hook is set, LuaJIT's interpreter
 * runs every instruction through its hook path, which made every rule pack about a
 * third slower to guard against a loop that almost never happens. Here a rule runs at
 * full speed; the watchdog only looks, every TICK_MS, at what each state is running:
 * - Each state publishes its position (which event, which rule; 0 when idle) and the
 *   CPU clock of the thread running it. Publishing is two relaxed atomic stores.
 * - When the watchdog sees the same position as at an earlier look, and that thread
 *   has used more than the budget of CPU time since the first look, it asks for a stop:
 *   it writes the position down and sets a count hook of 1 on the state (lua_sethook is
 *   made to be called asynchronously: Lua's own interpreter does it from a signal
 *   handler). The hook, in the state's own thread, raises when the stop is for the
 *   position still running, and at every instruction after that, so a pcall inside the
 *   rule cannot swallow it; the caller takes the hook off when the rule has returned.
 *   A stop meant for a rule that has just returned finds another position and only
 *   removes the hook.
 *
 * CPU time, not wall time: a worker that waits for a core is not running its rule.
 * A stop comes between budget and budget + 2 ticks of CPU time after the rule began.
 * LuaJIT's JIT stays off (rules_lua.c never opens it): compiled code does not call
 * hooks, so nothing could stop a compiled loop.
 *
 * Invariants: the registry mutex orders every lua_sethook on a watched state (the
 * watchdog's and the owner's) and guards the list; a state leaves the list before it
 * is closed.
 */
#include <lua.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define TICK_MS 5

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static vg__watch *watched;
static bool running;

static int64_t cpu_ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void look(vg__watch *w)
{
	uint64_t pos = atomic_load_explicit(&w->position, memory_order_acquire);
	if (pos == 0 || pos != w->seen) {
		w->seen = pos;
		w->seen_cpu = pos ? cpu_ns(atomic_load_explicit(&w->clock, memory_order_relaxed)) : 0;
		return;
	}
	if (atomic_load_explicit(&w->stop, memory_order_relaxed) == pos || w->seen_cpu < 0)
		return;
	int64_t now = cpu_ns(atomic_load_explicit(&w->clock, memory_order_relaxed));
	if (now < 0 || now - w->seen_cpu < w->budget_ns)
		return;
	atomic_store_explicit(&w->stop, pos, memory_order_release);
	lua_sethook(w->L, w->hook, LUA_MASKCOUNT, 1);
}

static void *watchdog_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (watched) {
		for (vg__watch *w = watched; w; w = w->next)
			look(w);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&wake, &mu, &until);
	}
	running = false;
	pthread_mutex_unlock(&mu);
	return NULL;
}

void vg__watch_add(vg__watch *w, struct lua_State *L, lua_Hook hook, uint64_t budget_ms)
{
	w->L = L;
	w->hook = hook;
	w->budget_ns = (int64_t)budget_ms * 1000000;
	atomic_init(&w->position, 0);
	atomic_init(&w->stop, 0);
	atomic_init(&w->clock, CLOCK_THREAD_CPUTIME_ID);
	w->seen = 0;
	pthread_mutex_lock(&mu);
	w->prev = NULL;
	w->next = watched;
	if (watched)
		watched->prev = w;
	watched = w;
	if (!running) {
		/* The thread ends when it finds the list empty, under the mutex; running says
		 * whether it still looks. */
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pthread_t t;
		running = pthread_create(&t, &a, watchdog_main, NULL) == 0;
		pthread_attr_destroy(&a);
		if (!running)
			vg_log(VG_LOG_WARN, "rules.watchdog", "msg=\"cannot start: rules run without a budget\"");
	}
	pthread_mutex_unlock(&mu);
}

void vg__watch_remove(vg__watch *w)
{
	pthread_mutex_lock(&mu);
	if (w->prev)
		w->prev->next = w->next;
	else if (watched == w)
		watched = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&mu);
}

void vg__watch_begin(vg__watch *w, uint64_t position)
{
	static _Thread_local clockid_t my_clock;
	static _Thread_local bool have_clock;
	if (!have_clock) {
		if (pthread_getcpuclockid(pthread_self(), &my_clock) != 0)
			my_clock = CLOCK_THREAD_CPUTIME_ID;
		have_clock = true;
	}
	atomic_store_explicit(&w->clock, my_clock, memory_order_relaxed);
	atomic_store_explicit(&w->position, position, memory_order_release);
}

bool vg__watch_end(vg__watch *w)
{
	atomic_store_explicit(&w->position, 0, memory_order_release);
	if (atomic_load_explicit(&w->stop, memory_order_acquire) == 0)
		return false;
	pthread_mutex_lock(&mu);
	lua_sethook(w->L, NULL, 0, 0);
	atomic_store_explicit(&w->stop, 0, memory_order_relaxed);
	pthread_mutex_unlock(&mu);
	return true;
}

bool vg__watch_stop_now(vg__watch *w)
{
	pthread_mutex_lock(&mu);
	uint64_t pos = atomic_load_explicit(&w->position, memory_order_relaxed);
	if (pos && atomic_load_explicit(&w->stop, memory_order_relaxed) != pos) {
		atomic_store_explicit(&w->stop, pos, memory_order_release);
		lua_sethook(w->L, w->hook, LUA_MASKCOUNT, 1);
	}
	pthread_mutex_unlock(&mu);
	return pos != 0;
}

void vg__watch_cancel(vg__watch *w)
{
	pthread_mutex_lock(&mu);
	lua_sethook(w->L, NULL, 0, 0);
	atomic_store_explicit(&w->stop, 0, memory_order_relaxed);
	pthread_mutex_unlock(&mu);
}

void vg__watch_restart(vg__watch *w)
{
	/* A position the watchdog has not seen: it measures the run from its next look. */
	pthread_mutex_lock(&mu);
	uint64_t pos = atomic_load_explicit(&w->position, memory_order_relaxed);
	if (pos) {
		atomic_store_explicit(&w->position, pos ^ ((uint64_t)1 << 63), memory_order_release);
		if (atomic_load_explicit(&w->stop, memory_order_relaxed)) {
			lua_sethook(w->L, NULL, 0, 0);
			atomic_store_explicit(&w->stop, 0, memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&mu);
}

bool vg__watch_due(vg__watch *w)
{
	uint64_t stop = atomic_load_explicit(&w->stop, memory_order_acquire);
	return stop && stop == atomic_load_explicit(&w->position, memory_order_relaxed);
}

bool vg__watch_hook(vg__watch *w)
{
	if (vg__watch_due(w))
		return true;
	/* A stop for a rule that has returned since: only the hook goes (checked again under
	 * the mutex, where the watchdog decides). */
	pthread_mutex_lock(&mu);
	uint64_t stop = atomic_load_explicit(&w->stop, memory_order_relaxed);
	bool live = stop && stop == atomic_load_explicit(&w->position, memory_order_relaxed);
	if (!live) {
		lua_sethook(w->L, NULL, 0, 0);
		atomic_store_explicit(&w->stop, 0, memory_order_relaxed);
	}
	pthread_mutex_unlock(&mu);
	return live;
}
