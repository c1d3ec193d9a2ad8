// The standard PAC functions (Netscape's and Microsoft's), for sipa-check's PAC evaluator.
// The host functions __sipa_resolve, __sipa_resolve_ex, __sipa_my_ip and __sipa_my_ip_ex are
// given by sipa-check: they resolve through the vantage's resolver.

function dnsResolve(host) {
    var ip = __sipa_resolve(String(host));
    return ip === undefined ? null : ip;
}
function dnsResolveEx(host) {
    return __sipa_resolve_ex(String(host));
}
function myIpAddress() {
    return __sipa_my_ip();
}
function myIpAddressEx() {
    return __sipa_my_ip_ex();
}
function isResolvable(host) {
    return dnsResolve(host) != null;
}
function isResolvableEx(host) {
    return dnsResolveEx(host) != "";
}
function dnsDomainIs(host, domain) {
    host = String(host);
    domain = String(domain);
    return host.length >= domain.length &&
        host.substring(host.length - domain.length) == domain;
}
function dnsDomainLevels(host) {
    return String(host).split('.').length - 1;
}
function isPlainHostName(host) {
    return String(host).indexOf('.') == -1;
}
function localHostOrDomainIs(host, hostdom) {
    host = String(host);
    hostdom = String(hostdom);
    return host == hostdom || hostdom.lastIndexOf(host + '.', 0) == 0;
}
// Each pattern is compiled once (a bypass list of many patterns is walked for every URL), into
// an equality, suffix or prefix test where it has one `*` at an end and no other wildcard,
// else a regular expression.
var __sipa_patterns = new Map();
function __sipa_compile(pattern) {
    var stars = pattern.split('*').length - 1;
    if (pattern.indexOf('?') == -1 && stars <= 1) {
        if (stars == 0) return {kind: 0, text: pattern};
        if (pattern.charAt(0) == '*') return {kind: 1, text: pattern.substring(1)};
        if (pattern.charAt(pattern.length - 1) == '*') {
            return {kind: 2, text: pattern.substring(0, pattern.length - 1)};
        }
    }
    var re = pattern
        .replace(/[\\^$+{}()|\[\]]/g, '\\$&')
        .replace(/\./g, '\\.')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.');
    return {kind: 3, re: new RegExp('^' + re + '$')};
}
function shExpMatch(str, pattern) {
    if (typeof pattern !== 'string') pattern = String(pattern);
    if (typeof str !== 'string') str = String(str);
    var c = __sipa_patterns.get(pattern);
    if (c === undefined) {
        c = __sipa_compile(pattern);
        if (__sipa_patterns.size >= 4096) __sipa_patterns.clear();
        __sipa_patterns.set(pattern, c);
    }
    switch (c.kind) {
        case 0: return str === c.text;
        case 1: return str.length >= c.text.length &&
            str.substring(str.length - c.text.length) === c.text;
        case 2: return str.substring(0, c.text.length) === c.text;
        default: return c.re.test(str);
    }
}
function __sipa_ipv4(text) {
    var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(String(text));
    if (m == null) return null;
    for (var i = 1; i < 5; i++) {
        if (Number(m[i]) > 255) return null;
    }
    return m;
}
function convert_addr(ipchars) {
    var b = String(ipchars).split('.');
    return ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
}
function isInNet(ipaddr, pattern, maskstr) {
    if (__sipa_ipv4(ipaddr) == null) {
        ipaddr = dnsResolve(ipaddr);
        if (ipaddr == null) return false;
    }
    var host = convert_addr(ipaddr);
    var pat = convert_addr(pattern);
    var mask = convert_addr(maskstr);
    return (host & mask) == (pat & mask);
}
function __sipa_v6_fields(text) {
    text = String(text);
    var v4 = /(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(text);
    if (v4 != null) {
        var n = convert_addr(v4[1]) >>> 0;
        text = text.substring(0, text.length - v4[1].length) +
            (n >>> 16).toString(16) + ':' + (n & 0xffff).toString(16);
    }
    var halves = text.split('::');
    if (halves.length > 2) return null;
    var head = halves[0] == '' ? [] : halves[0].split(':');
    var tail = halves.length == 2 && halves[1] != '' ? halves[1].split(':') : [];
    var fill = 8 - head.length - tail.length;
    if (halves.length == 1 ? fill != 0 : fill < 1) return null;
    var all = head;
    for (var i = 0; i < fill && halves.length == 2; i++) all.push('0');
    all = all.concat(tail);
    var out = [];
    for (var j = 0; j < 8; j++) {
        if (!/^[0-9a-fA-F]{1,4}$/.test(all[j])) return null;
        out.push(parseInt(all[j], 16));
    }
    return out;
}
function isInNetEx(ipaddr, prefix) {
    var parts = String(prefix).split('/');
    if (parts.length != 2 || !/^\d{1,3}$/.test(parts[1])) return false;
    var len = Number(parts[1]);
    ipaddr = String(ipaddr);
    if (__sipa_ipv4(parts[0]) != null) {
        if (len > 32) return false;
        if (__sipa_ipv4(ipaddr) == null) return false;
        if (len == 0) return true;
        var mask = len == 32 ? -1 : ~((1 << (32 - len)) - 1);
        return (convert_addr(ipaddr) & mask) == (convert_addr(parts[0]) & mask);
    }
    if (len > 128) return false;
    var ip = __sipa_v6_fields(ipaddr);
    var net = __sipa_v6_fields(parts[0]);
    if (ip == null || net == null) return false;
    for (var k = 0; k < 8 && len > 0; k++, len -= 16) {
        var bits = len >= 16 ? 16 : len;
        var shift = 16 - bits;
        if ((ip[k] >> shift) != (net[k] >> shift)) return false;
    }
    return true;
}
function sortIpAddressList(list) {
    var items = String(list).split(';');
    var keyed = [];
    for (var i = 0; i < items.length; i++) {
        var item = items[i].replace(/^\s+|\s+$/g, '');
        if (item == '') continue;
        var key;
        if (__sipa_ipv4(item) != null) {
            var n = convert_addr(item) >>> 0;
            key = '1' + ('00000000' + n.toString(16)).slice(-8);
        } else {
            var f = __sipa_v6_fields(item);
            if (f == null) return false;
            key = '0';
            for (var j = 0; j < 8; j++) key += ('0000' + f[j].toString(16)).slice(-4);
        }
        keyed.push([key, item]);
    }
    keyed.sort(function (a, b) { return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0; });
    var out = [];
    for (var k = 0; k < keyed.length; k++) out.push(keyed[k][1]);
    return out.join(';');
}
function getClientVersion() {
    return "1.0";
}
var __sipa_days = {SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6};
var __sipa_months = {JAN: 0, FEB: 1, MAR: 2, APR: 3, MAY: 4, JUN: 5,
    JUL: 6, AUG: 7, SEP: 8, OCT: 9, NOV: 10, DEC: 11};
function __sipa_args(args) {
    var list = Array.prototype.slice.call(args);
    var gmt = list.length > 0 && list[list.length - 1] == 'GMT';
    if (gmt) list.pop();
    return {list: list, gmt: gmt, now: new Date()};
}
function weekdayRange() {
    var a = __sipa_args(arguments);
    if (a.list.length < 1 || a.list.length > 2) return false;
    var d1 = __sipa_days[a.list[0]];
    var d2 = a.list.length == 2 ? __sipa_days[a.list[1]] : d1;
    if (d1 === undefined || d2 === undefined) return false;
    var today = a.gmt ? a.now.getUTCDay() : a.now.getDay();
    return d1 <= d2 ? (d1 <= today && today <= d2) : (today >= d1 || today <= d2);
}
function __sipa_between(value, from, to) {
    return from <= to ? (from <= value && value <= to) : (value >= from || value <= to);
}
function dateRange() {
    var a = __sipa_args(arguments);
    var n = a.now;
    var day = a.gmt ? n.getUTCDate() : n.getDate();
    var month = a.gmt ? n.getUTCMonth() : n.getMonth();
    var year = a.gmt ? n.getUTCFullYear() : n.getFullYear();
    var parsed = [];
    for (var i = 0; i < a.list.length; i++) {
        var v = a.list[i];
        if (typeof v == 'string' && __sipa_months[v] !== undefined) {
            parsed.push({kind: 'month', value: __sipa_months[v]});
        } else {
            var num = Number(v);
            if (isNaN(num)) return false;
            parsed.push({kind: num > 31 ? 'year' : 'day', value: num});
        }
    }
    var cur = {day: day, month: month, year: year};
    if (parsed.length == 1) return cur[parsed[0].kind] == parsed[0].value;
    if (parsed.length % 2 != 0 || parsed.length > 6) return false;
    var half = parsed.length / 2;
    var kinds = [];
    for (var j = 0; j < half; j++) {
        if (parsed[j].kind != parsed[j + half].kind) return false;
        kinds.push(parsed[j].kind);
    }
    function key(parts, k) {
        var o = {day: 0, month: 0, year: 0};
        for (var m = 0; m < k.length; m++) o[k[m]] = parts[m].value;
        return (k.indexOf('year') >= 0 ? o.year : 0) * 10000 + o.month * 100 + o.day;
    }
    var now = key(kinds.map(function (k) { return {value: cur[k]}; }), kinds);
    var from = key(parsed.slice(0, half), kinds);
    var to = key(parsed.slice(half), kinds);
    return kinds.indexOf('year') >= 0 ? (from <= now && now <= to) : __sipa_between(now, from, to);
}
function timeRange() {
    var a = __sipa_args(arguments);
    var n = a.now;
    var nowSecs = (a.gmt ? n.getUTCHours() : n.getHours()) * 3600 +
        (a.gmt ? n.getUTCMinutes() : n.getMinutes()) * 60 +
        (a.gmt ? n.getUTCSeconds() : n.getSeconds());
    var v = a.list.map(Number);
    for (var i = 0; i < v.length; i++) if (isNaN(v[i])) return false;
    var from, to;
    switch (v.length) {
        case 1: return Math.floor(nowSecs / 3600) == v[0];
        case 2: from = v[0] * 3600; to = v[1] * 3600 - 1; break;
        case 4: from = v[0] * 3600 + v[1] * 60; to = v[2] * 3600 + v[3] * 60 - 1; break;
        case 6: from = v[0] * 3600 + v[1] * 60 + v[2]; to = v[3] * 3600 + v[4] * 60 + v[5]; break;
        default: return false;
    }
    return __sipa_between(nowSecs, from, to);
}
