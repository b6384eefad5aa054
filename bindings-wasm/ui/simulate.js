// simulate.js
