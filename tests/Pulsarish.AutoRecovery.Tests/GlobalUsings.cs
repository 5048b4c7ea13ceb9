global using NUnit.Framework;
global using Pulsarish.Hosting;
global using Pulsarish.TestKit;
