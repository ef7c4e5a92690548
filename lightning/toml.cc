/*
 * toml.cc - ig_toml_parse (toml.h): toml++ parses, this unit walks its tree into jansson.
 * The only C++ in the project; kept to the conversion so the rest stays C.
 */
#include "lightning/toml.h"

#include <cstdio>
#include <new>
#include <string>
#include <string_view>
#include <sstream>

#include <toml++/toml.h>

namespace {

/* A key or string holding U+0000 (TOML's \u0000 / \U00000000): Lightning decodes the task
 * with BurntSushi/toml, which takes any valid rune from an escape (parse.go
 * asciiEscapeToUnicode: utf8.ValidRune only), and keeps what follows the NUL (a Go string);
 * the C code reading this tree stops there. One task would be two: refused. */
struct nul_in_text {
	std::string key;
};

void no_nul(std::string_view text, std::string_view key)
{
	if (text.find('\0') != std::string_view::npos)
		throw nul_in_text{std::string(key.substr(0, key.find('\0')))};
}

/* NULL on allocation failure (the caller reports it). */
json_t *convert(const toml::node &n, std::string_view key);

json_t *convert_table(const toml::table &t)
{
	json_t *o = json_object();
	if (!o)
		return nullptr;
	try {
		for (auto &&[k, v] : t) {
			std::string key(k.str());
			no_nul(key, key);
			json_t *c = convert(v, key);
			if (!c || json_object_setn_new(o, key.data(), key.size(), c) != 0) {
				json_decref(o);
				return nullptr;
			}
		}
	} catch (...) {
		json_decref(o);
		throw;
	}
	return o;
}

json_t *convert_array(const toml::array &a, std::string_view key)
{
	json_t *arr = json_array();
	if (!arr)
		return nullptr;
	try {
		for (auto &&v : a) {
			json_t *c = convert(v, key);
			if (!c || json_array_append_new(arr, c) != 0) {
				json_decref(arr);
				return nullptr;
			}
		}
	} catch (...) {
		json_decref(arr);
		throw;
	}
	return arr;
}

/* Dates and times keep their TOML spelling: a task file's only ones are unused here. */
json_t *as_text(const toml::node &n)
{
	std::ostringstream s;
	n.visit([&s](auto &&v) { s << v; });
	std::string t = s.str();
	return json_stringn(t.data(), t.size());
}

json_t *convert(const toml::node &n, std::string_view key)
{
	if (auto t = n.as_table())
		return convert_table(*t);
	if (auto a = n.as_array())
		return convert_array(*a, key);
	if (auto s = n.as_string()) {
		const std::string &v = s->get();
		no_nul(v, key);
		return json_stringn(v.data(), v.size());
	}
	if (auto i = n.as_integer())
		return json_integer(static_cast<json_int_t>(i->get()));
	if (auto f = n.as_floating_point())
		return json_real(f->get());
	if (auto b = n.as_boolean())
		return json_boolean(b->get());
	return as_text(n);
}

} // namespace

extern "C" json_t *ig_toml_parse(const char *text, size_t len, char *err, size_t errlen)
{
	try {
		toml::table doc = toml::parse(std::string_view(text ? text : "", text ? len : 0));
		json_t *o = convert_table(doc);
		if (!o && errlen)
			std::snprintf(err, errlen, "out of memory");
		return o;
	} catch (const toml::parse_error &e) {
		if (errlen)
			std::snprintf(err, errlen, "line %u, column %u: %.*s", e.source().begin.line,
			              e.source().begin.column, static_cast<int>(e.description().size()),
			              e.description().data());
	} catch (const nul_in_text &e) {
		if (errlen)
			std::snprintf(err, errlen, "key \"%.60s\": a NUL character (\\u0000) in a key or string: Lightning "
			              "reads what follows it, the preflight would not; remove it", e.key.c_str());
	} catch (const std::bad_alloc &) {
		if (errlen)
			std::snprintf(err, errlen, "out of memory");
	} catch (...) {
		if (errlen)
			std::snprintf(err, errlen, "the TOML reader failed");
	}
	return nullptr;
}
