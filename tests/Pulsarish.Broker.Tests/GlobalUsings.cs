global using NUnit.Framework;
global using Pulsarish.Hosting;
