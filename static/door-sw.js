// The door's service worker: keeps the offline door page and its files so
// the door opens without a connection. Pages are asked of the network first
// (their check-in list is fresher there) and taken from the cache when it
// does not answer; the hashed static files never change, so the cache serves
// them first. Nothing else passes through it.
"use strict";
var CACHE = "boxoffice-door-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function offlinePage(url) {
  return /\/manage\/events\/[^/]+\/door\/(offline|manifest\.webmanifest)$/.test(url.pathname);
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(request).then(function (hit) {
        return hit || fetch(request).then(function (response) {
          if (response.ok) cache.put(request, response.clone());
          return response;
        });
      });
    }));
  } else if (offlinePage(url)) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return fetch(request).then(function (response) {
        if (response.ok) cache.put(request, response.clone());
        return response;
      }, function () {
        return cache.match(request).then(function (hit) { return hit || Response.error(); });
      });
    }));
  }
});
