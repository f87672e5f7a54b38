// app.js - small progressive enhancement: "Copy" buttons next to pull commands. Pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
	if (!navigator.clipboard) return;
	document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
		button.hidden = false;
		button.addEventListener("click", function () {
			navigator.clipboard.writeText(button.dataset.copy).then(function () {
				button.textContent = "Copied";
				setTimeout(function () { button.textContent = "Copy"; }, 1500);
			});
		});
	});
});
